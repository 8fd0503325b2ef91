// ember.h: the umbrella header for programs that use Ember (examples, apps).
// Ember's own sources include only the headers they need.
#pragma once

#include "ember/autograd/Node.h"
#include "ember/autograd/Ops.h"
#include "ember/autograd/gradcheck.h"
#include "ember/datasets/DataLoader.h"
#include "ember/learner/Learner.h"
#include "ember/learner/Vision.h"
#include "ember/nn/Conv.h"
#include "ember/nn/Init.h"
#include "ember/nn/Layers.h"
#include "ember/nn/Loss.h"
#include "ember/nn/Module.h"
#include "ember/nn/Norm.h"
#include "ember/nn/Pool.h"
#include "ember/nn/Weights.h"
#include "ember/nn/models/ResNet.h"
#include "ember/optim/Optimizer.h"
#include "ember/tensor/Tensor.h"
