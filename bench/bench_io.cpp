// bench/bench_io.cpp: readers of files Ember did not write, at sizes a hostile or a huge file
// brings. A safetensors header of n tensors must load in O(n log n) (nn/Json.h); insertion-ordered
// JSON objects made it O(n^2): 100k tensors took 15 s and 300k took 75 s, Python's json 1.8 s.
//
//   cmake --build <build> --target bench_io && <build>/bin/bench_io
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "ember/nn/Safetensors.h"

namespace {

// n one-byte U8 tensors named t0, t1, ... tiling an n-byte buffer.
std::string write_many_tensors(int64_t n) {
  std::string header = "{";
  for (int64_t i = 0; i < n; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) + R"(":{"dtype":"U8","shape":[1],"data_offsets":[)" +
              std::to_string(i) + "," + std::to_string(i + 1) + "]}";
  header += "}";
  std::string bytes(8, '\0');
  for (int b = 0; b < 8; ++b) bytes[static_cast<size_t>(b)] = static_cast<char>((header.size() >> (8 * b)) & 0xff);
  bytes += header + std::string(static_cast<size_t>(n), '\0');
  std::string path = "/tmp/ember_bench_io_" + std::to_string(getpid()) + "_" + std::to_string(n) + ".safetensors";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

void safetensors_header(benchmark::State& state) {
  const std::string path = write_many_tensors(state.range(0));
  for (auto _ : state) {
    ember::nn::SafetensorsFile f = ember::nn::load_safetensors(path);
    benchmark::DoNotOptimize(f.tensors.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  std::remove(path.c_str());
}
BENCHMARK(safetensors_header)->Arg(10000)->Arg(100000)->Arg(300000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
