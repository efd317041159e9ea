# Removes a hop's staging folder after a transfer failed for another reason than a lost
# connection (after a full disk above all): nothing of it is kept for the next run.
# Arguments: STAGE    Prints "removed".
rm -rf -- "$1" && echo removed
