#!/bin/sh
# tests/layering/check_includes.sh ROOT: every #include "folder/..." in a library folder names
# its own folder or a layer below it (docs/architecture.md). Prints each offending line.
root=${1:?usage: check_includes.sh ROOT}
status=0
check() {  # check FOLDER "ALLOWED FOLDERS"
  folder=$1
  allowed=$2
  for line in $(grep -rnoE '#include "[A-Za-z_]+/' "$root/$folder" | sed 's/#include "//; s/\/$//' | tr ' ' '_'); do
    target=${line##*:}
    case " $allowed " in
      *" $target "*) ;;
      *) echo "layering: ${line%:*} includes $target/, which is not below $folder/ (allowed: $allowed)"; status=1 ;;
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
[ $status -eq 0 ] && echo "layering: every library folder includes only itself and the layers below it"
exit $status
