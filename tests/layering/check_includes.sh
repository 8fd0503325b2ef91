#!/bin/sh
# tests/layering/check_includes.sh ROOT: every #include "ember/folder/..." in a library folder
# (ROOT/ember/folder) names its own folder or a layer below it (docs/architecture.md), and no
# source in the tree includes a library folder without its ember/ prefix. Prints each offending line.
root=${1:?usage: check_includes.sh ROOT}
status=0
check() {  # check FOLDER "ALLOWED FOLDERS"
  folder=$1
  allowed=$2
  for line in $(grep -rnoE '#include "ember/[A-Za-z_]+/' "$root/ember/$folder" | sed 's/#include "ember\///; s/\/$//' | tr ' ' '_'); do
    target=${line##*:}
    case " $allowed " in
      *" $target "*) ;;
      *) echo "layering: ${line%:*} includes ember/$target/, which is not below ember/$folder/ (allowed: $allowed)"; status=1 ;;
    esac
  done
}
check tensor "tensor"
check cuda "tensor cuda"
check autograd "tensor autograd"
check nn "tensor autograd nn"
check optim "tensor autograd optim"
check datasets "tensor autograd datasets"
check learner "tensor autograd nn optim datasets learner"
# A bare "tensor/..." include would need a library folder at the root of a user's include path.
bare=$(grep -rnE '#include [<"](tensor|cuda|autograd|nn|optim|datasets|learner)/' "$root/ember" "$root/examples" \
         "$root/bench" "$root/tests" "$root/fuzz" "$root/docs" 2>/dev/null | grep -v '/tests/layering/check_includes.sh:')
if [ -n "$bare" ]; then
  echo "$bare" | sed 's/^/layering: an include without ember\/: /'
  status=1
fi
[ $status -eq 0 ] && echo "layering: every library folder includes only itself and the layers below it, always as ember/<folder>/"
exit $status
