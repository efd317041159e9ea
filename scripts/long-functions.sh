#!/bin/sh
# Lists non-test functions in src/ longer than LIMIT lines (default 120), longest first:
# a function runs from its `fn` line to the first `}` at the same indentation; test
# modules (a `mod` right after `#[cfg(test)]`) are skipped. Issue 10's target: none.
exec python3 - "${1:-120}" <<'PY'
import pathlib, re, sys
limit = int(sys.argv[1])
found = []
for path in sorted(pathlib.Path("src").rglob("*.rs")):
    lines = path.read_text().split("\n")
    i, test_next = 0, False
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() == "#[cfg(test)]":
            test_next = True
        elif test_next and re.match(r" *(pub(\(\w+\))? )?mod \w+ *\{", line):
            j = i + 1
            while j < len(lines) and not lines[j].startswith(" " * indent + "}"):
                j += 1
            i, test_next = j, False
        else:
            test_next = False
            m = re.match(r" *(pub(\([\w:]+\))? )?(async )?fn (\w+)", line)
            if m and not line.rstrip().endswith(";"):
                j = i + 1
                while j < len(lines) and not (lines[j].startswith(" " * indent + "}") and len(lines[j]) - len(lines[j].lstrip(" ")) == indent):
                    j += 1
                n = j - i + 1
                if n > limit:
                    found.append((n, f"{path}:{i + 1}: {n} lines: fn {m.group(4)}"))
                i = j
        i += 1
for _, text in sorted(found, reverse=True):
    print(text)
sys.exit(1 if found else 0)
PY
