# Lists a node's records folder for `wbackup init --from`: "file PATH SIZE" for each
# regular file one or two levels down (nothing else is ever fetched), or "none" when
# there is no such folder.
# Arguments: DIR
d=$1
[ -d "$d" ] || { echo none; exit 0; }
find "$d" -mindepth 1 -maxdepth 2 -type f -printf 'file %P %s\n'
