# tests/tutorial/extract.awk: splits docs/tutorial.md into programs and expected outputs.
#
#   awk -v out=DIR -f extract.awk docs/tutorial.md     prints the step names, one a line
#
# A C++ block must start with "// tutorial: step-N": its lines go to DIR/step-N.cpp; a later
# block starting "// tutorial: step-N continued" is appended to the same file, so a program
# can be explained piece by piece. A line "<!-- expect step-N ARGS -->" right before a
# ```text block makes that block the expected output of "step-N ARGS" (DIR/step-N.expect:
# the arguments, then the lines; "..." in a line matches anything).
function fail(msg) { printf "docs/tutorial.md:%d: %s\n", NR, msg > "/dev/stderr"; bad = 1; exit 1 }
BEGIN { if (out == "") { print "extract.awk: set -v out=DIR" > "/dev/stderr"; exit 2 } }
/^```cpp[ \t]*$/ { incode = 1; first = 1; cline = NR; next }
incode && /^```[ \t]*$/ {
  if (first) fail("empty C++ block")
  incode = 0; next
}
incode && first {
  first = 0
  if ($0 !~ /^\/\/ tutorial: step-[A-Za-z0-9_]+( continued)?[ \t]*$/)
    fail("a C++ block must start with \"// tutorial: step-N\" (every block is compiled by tests/tutorial)")
  name = $3
  cont = ($4 == "continued")
  file = out "/" name ".cpp"
  if (cont && !(name in seen)) fail(name " continued before it started")
  if (!cont && (name in seen)) fail(name " starts twice (use \"// tutorial: " name " continued\")")
  if (!cont) { seen[name] = 1; order[++n] = name; printf "// %s: extracted from docs/tutorial.md by tests/tutorial\n", name > file }
  printf "#line %d \"docs/tutorial.md\"\n", NR + 1 > file
  next
}
incode { print > file; next }
/^<!-- expect step-[A-Za-z0-9_]+.*-->[ \t]*$/ {
  line = $0; sub(/^<!-- expect /, "", line); sub(/[ \t]*-->[ \t]*$/, "", line)
  ename = line; sub(/[ \t].*/, "", ename)
  args = line; if (args == ename) args = ""; else sub(/^[^ \t]+[ \t]+/, "", args)
  if (!(ename in seen)) fail("expect " ename " before its program")
  if (ename in expected) fail("a second expect for " ename)
  expected[ename] = 1; efile = out "/" ename ".expect"; print args > efile
  want_text = NR + 1; next
}
want_text == NR {
  if ($0 !~ /^```text[ \t]*$/) fail("an expect comment must be followed by a ```text block")
  intext = 1; next
}
intext && /^```[ \t]*$/ { intext = 0; next }
intext { print > efile; next }
END {
  if (bad) exit 1
  if (incode) { printf "docs/tutorial.md:%d: unclosed C++ block\n", cline > "/dev/stderr"; exit 1 }
  for (i = 1; i <= n; ++i) print order[i]
}
