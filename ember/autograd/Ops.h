// autograd/Ops.h: every differentiable function of Ember (the Tensor methods are in
// tensor/Tensor.h). Each header sits beside the file that defines its ops, forward and
// backward side by side.
#pragma once

#include "ember/autograd/ops/conv.h"
#include "ember/autograd/ops/elementwise.h"
#include "ember/autograd/ops/index.h"
#include "ember/autograd/ops/linalg.h"
#include "ember/autograd/ops/loss.h"
#include "ember/autograd/ops/norm.h"
#include "ember/autograd/ops/pool.h"
#include "ember/autograd/ops/shape.h"
#include "ember/autograd/ops/softmax.h"
