// tests/consumer/main.cpp: the smallest program against an installed Ember.
// It must compile with only the installed headers and link with only the
// exported targets; .ci/run checks its output.
#include <iostream>

#include "ember.h"

int main() {
  ember::Tensor x = ember::ones({2, 3});
  std::cout << x << "\n";
  std::cout << "sum = " << x.sum().item() << "\n";
  return x.sum().item() == 6.0 ? 0 : 1;
}
