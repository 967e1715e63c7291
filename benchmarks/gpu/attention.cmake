# attncamp_attention_bench: bf16 fused attention forward and forward + backward on CUDA
# (attention_bench.cpp; peer: benchmarks/peers/attention_torch.py). Built only with CUDA; a
# GPU-less machine builds it too, running it needs a GPU. Included from a CMakeLists.txt.
if(ATTNCAMP_WITH_CUDA)
  add_executable(attncamp_attention_bench ${CMAKE_CURRENT_LIST_DIR}/attention_bench.cpp)
  target_link_libraries(attncamp_attention_bench PRIVATE attncamp_ops CLI11::CLI11 attncamp_warnings)
  set_target_properties(attncamp_attention_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endif()
# attncamp_attention_tune: tile-shape sweep of the tensor-core attention kernels (attention_tune.cu),
# how the launchers' shapes were chosen. CUDA source: it instantiates the kernels itself.
if(ATTNCAMP_WITH_CUDA)
  add_executable(attncamp_attention_tune ${CMAKE_CURRENT_LIST_DIR}/attention_tune.cu)
  target_link_libraries(attncamp_attention_tune PRIVATE attncamp_ops CLI11::CLI11 attncamp_warnings)
  attncamp_use_sm90a(attncamp_attention_tune)  # it instantiates the wgmma forward too
  set_target_properties(attncamp_attention_tune PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endif()
