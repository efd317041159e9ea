# Whether a repository has its config (restic could open it): prints "yes" or "no".
# Arguments: REPO
if [ -e "$1/config" ]; then echo yes; else echo no; fi
