// ember.h: the umbrella header for programs that use Ember (examples, apps).
// Ember's own sources include only the headers they need.
#pragma once

#include "autograd/Node.h"
#include "autograd/Ops.h"
#include "autograd/gradcheck.h"
#include "datasets/DataLoader.h"
#include "learner/Learner.h"
#include "learner/Vision.h"
#include "nn/Conv.h"
#include "nn/Init.h"
#include "nn/Layers.h"
#include "nn/Loss.h"
#include "nn/Module.h"
#include "nn/Norm.h"
#include "nn/Pool.h"
#include "nn/Weights.h"
#include "nn/models/ResNet.h"
#include "optim/Optimizer.h"
#include "tensor/Tensor.h"
