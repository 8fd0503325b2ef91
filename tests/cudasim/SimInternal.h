// tests/cudasim/SimInternal.h: what the simulator's parts share (not seen by cuda/ sources).
//
//   Sim.cpp      fibers, the block scheduler, faults, launch counting
//   Runtime.cpp  the fake CUDA runtime: devices, memory, copies, streams, events, errors
//   Cublas.cpp   cuBLAS gemm through a column-major reference
//   Cudnn.cpp    cuDNN convolutions through a direct reference
#pragma once

#include "cudasim.h"  // first: it defines the qualifiers before CUDA's headers do

#include <cstddef>
#include <cstdint>
#include <string>

namespace cudasim {
namespace detail {

// Runtime.cpp -----------------------------------------------------------------
// Records an error for the next cudaGetLastError (as an asynchronous kernel error would be).
void set_last_error(cudaError_t e);
// Counts one device->host synchronisation.
void count_sync();
// The allocation that holds [p, p + n) on any simulated device, or -1 when there is none
// (a host pointer, a freed block, a range that runs past the end of its block).
int device_of_range(const void* p, size_t n);
// The current device of this host thread.
int current_device();

// Sim.cpp ---------------------------------------------------------------------
// Records a fault found outside a kernel (a library call made with bad arguments, say):
// kept for last_fault() and printed on stderr.
void report_fault(const std::string& what);

}  // namespace detail
}  // namespace cudasim
