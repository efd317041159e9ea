# The owner's live files, compared with a snapshot's record of them.
# Arguments: triples PATH SIZE MTIME (MTIME as seconds.nanoseconds, the way stat prints it).
# Prints per triple, counting from 1: "same I SHA256" when the file still has that size and
# time (then its hash), "changed I" when it does not, "gone I" when it is not there.
i=0
while [ "$#" -ge 3 ]; do
  i=$((i + 1)); p=$1; size=$2; mtime=$3; shift 3
  if ! got=$(stat -L -c '%s %.9Y' -- "$p" 2>/dev/null); then echo "gone $i"; continue; fi
  if [ "$got" != "$size $mtime" ]; then echo "changed $i"; continue; fi
  if sum=$(sha256sum < "$p"); then echo "same $i ${sum%% *}"; else echo "changed $i"; fi
done
