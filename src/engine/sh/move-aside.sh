# Moves a partial folder that holds files the chosen copy lacks out of the owner's place
# into the quarantine, so nothing foreign ends up inside the repository brought back.
# Arguments: REPO QUARANTINE_DIR    Prints "moved".
repo=$1; q=$2
mkdir -p -- "$(dirname -- "$q")" && mv -- "$repo" "$q" && echo moved
