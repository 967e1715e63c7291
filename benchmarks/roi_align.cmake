# RoIAlign benchmarks against torchvision (peer: benchmarks/peers/roi_align_torchvision.py, run by
# benchmarks/roi_align_bench.sh): attncamp_roi_align_bench on the CPU (roi_align_bench.cpp) and,
# built only with CUDA (a GPU-less machine builds it too, running it needs a GPU),
# attncamp_roi_align_gpu_bench (gpu/roi_align_bench.cpp). Included from benchmarks/CMakeLists.txt.
add_executable(attncamp_roi_align_bench ${CMAKE_CURRENT_LIST_DIR}/roi_align_bench.cpp)
target_link_libraries(attncamp_roi_align_bench PRIVATE attncamp_ops CLI11::CLI11 OpenMP::OpenMP_CXX attncamp_warnings)
set_target_properties(attncamp_roi_align_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
if(ATTNCAMP_WITH_CUDA)
  add_executable(attncamp_roi_align_gpu_bench ${CMAKE_CURRENT_LIST_DIR}/gpu/roi_align_bench.cpp)
  target_link_libraries(attncamp_roi_align_gpu_bench PRIVATE attncamp_ops CLI11::CLI11 attncamp_warnings)
  set_target_properties(attncamp_roi_align_gpu_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endif()
