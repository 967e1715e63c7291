// What CUDA kernel headers need from the device side when g++ compiles them for the emulator
// (tests/emu/emu_runtime.h): the built-in index variables, __syncthreads, __syncwarp, warp
// shuffles, atomics and the integer min/max. Include it before any kernel header. The CUDA
// headers make __global__, __device__ and __shared__ empty for a host compiler;
// __launch_bounds__ is defined away here.
#pragma once

#if defined(__CUDACC__)
#error "tests/emu/cuda_emu.h is for host compilers only: nvcc builds the real kernels"
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <cstdint>
#include <cstring>

#include "emu_runtime.h"

#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

// The running CUDA thread's indices and its launch's shape, set by the emulator's scheduler
// whenever it resumes a thread (each OS thread running blocks has its own copy).
inline thread_local uint3 threadIdx = {0, 0, 0};
inline thread_local uint3 blockIdx = {0, 0, 0};
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

inline void __syncthreads() { attncamp::emu::block_barrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { attncamp::emu::warp_barrier(mask); }

// Warp shuffles of 32-bit values.
template <typename T>
inline T emu_shuffle(bool xor_mode, unsigned mask, T v, int arg, int width) {
  static_assert(sizeof(T) == 4, "the emulator shuffles 32-bit values only");
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits = attncamp::emu::shuffle(xor_mode, mask, bits, arg, width);
  std::memcpy(&v, &bits, 4);
  return v;
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  return emu_shuffle(true, mask, v, lane_mask, width);
}
template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = warpSize) {
  return emu_shuffle(false, mask, v, src_lane, width);
}

// Atomic additions, maxima and minima in global memory; they return the old value. Blocks run concurrently on
// several OS threads, so these are true atomics. As on the GPU, a float2 addition is atomic per
// element only.
inline float atomicAdd(float* address, float v) {
  float old, sum;
  __atomic_load(address, &old, __ATOMIC_RELAXED);
  sum = old + v;
  while (!__atomic_compare_exchange(address, &old, &sum, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) sum = old + v;
  return old;
}
inline float2 atomicAdd(float2* address, float2 v) {
  return make_float2(atomicAdd(&address->x, v.x), atomicAdd(&address->y, v.y));
}
inline int atomicAdd(int* address, int v) { return __atomic_fetch_add(address, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* address, unsigned v) { return __atomic_fetch_add(address, v, __ATOMIC_RELAXED); }
inline unsigned atomicMax(unsigned* address, unsigned v) {
  unsigned old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(address, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline unsigned long long atomicMin(unsigned long long* address, unsigned long long v) {
  unsigned long long old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (old > v && !__atomic_compare_exchange_n(address, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

// Reinterpretations of 32-bit values.
inline unsigned __float_as_uint(float v) {
  unsigned bits;
  std::memcpy(&bits, &v, 4);
  return bits;
}
inline float __uint_as_float(unsigned bits) {
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// CUDA's integer min and max (float ones are fminf / fmaxf from math.h).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
