// tests/layering/layer_main.cpp: the program each layer's whole archive is linked into
// (tests/layering/CMakeLists.txt). Linking is the test; running it only confirms it starts.
int main() { return 0; }
