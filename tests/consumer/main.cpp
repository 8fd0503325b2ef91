// tests/consumer/main.cpp: the smallest program against an installed Ember.
// It must compile with only the installed headers, included as a user would (<ember/...>), and
// link with only the exported targets; .ci/run checks its output.
#include <iostream>

#include <ember/ember.h>
#include <ember/nn/Layers.h>

int main() {
  ember::Tensor x = ember::ones({2, 3});
  std::cout << x << "\n";
  std::cout << "sum = " << x.sum().item() << "\n";
  ember::nn::Linear fc(3, 1);
  std::cout << "linear out: " << fc.forward(x).shape().size() << " dims\n";
  return x.sum().item() == 6.0 ? 0 : 1;
}
