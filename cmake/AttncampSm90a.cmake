# attncamp_use_sm90a(<target>): compile the target's CUDA sources for CMAKE_CUDA_ARCHITECTURES
# with 90 made 90a (compute capability 9.0's architecture-specific features: wgmma), through
# explicit --generate-code flags (CMake 3.24 does not take the "a" suffix in CUDA_ARCHITECTURES),
# and define ATTNCAMP_WGMMA_SM90A when 90 is among them. The wgmma attention kernels
# (ops/cuda/attention_wgmma*.cuh) are built by such targets only: attncamp_ops_sm90a, whose sources
# ops/CMakeLists.txt lists (ATTNCAMP_OPS_SM90A_SRC), and attncamp_attention_tune.
function(attncamp_use_sm90a target)
  set(gencode "")
  set(with_90a OFF)
  foreach(arch IN LISTS CMAKE_CUDA_ARCHITECTURES)
    string(REGEX MATCH "^[0-9]+a?" num "${arch}")
    if(num STREQUAL "90" OR num STREQUAL "90a")
      set(num "90a")
      set(with_90a ON)
    endif()
    if(arch MATCHES "-real$")
      set(code "sm_${num}")
    elseif(arch MATCHES "-virtual$")
      set(code "compute_${num}")
    else()
      set(code "[sm_${num},compute_${num}]")
    endif()
    list(APPEND gencode "--generate-code=arch=compute_${num},code=${code}")
  endforeach()
  set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES OFF)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${gencode}>)
  if(with_90a)
    target_compile_definitions(${target} PRIVATE ATTNCAMP_WGMMA_SM90A)
  endif()
endfunction()
