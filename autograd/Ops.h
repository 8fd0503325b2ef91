// autograd/Ops.h: every differentiable function of Ember (the Tensor methods are in
// tensor/Tensor.h). Each header sits beside the file that defines its ops, forward and
// backward side by side.
#pragma once

#include "autograd/ops/conv.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"
#include "autograd/ops/linalg.h"
#include "autograd/ops/loss.h"
#include "autograd/ops/norm.h"
#include "autograd/ops/pool.h"
#include "autograd/ops/shape.h"
#include "autograd/ops/softmax.h"
