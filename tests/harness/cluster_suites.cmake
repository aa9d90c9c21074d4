# tablepub_add_cluster_tests(TARGET [TIMEOUT seconds]): the integration-test
# binary TARGET, built on ClusterTest (harness.hpp), as one ctest of that
# name, labelled "integration". ClusterTest starts one throwaway cluster per
# suite and gives each test a database of its own; gtest_discover_tests ran
# every test in a process of its own, so every test paid for a cluster of
# its own (initdb, start, stop: about 2 s each on a quiet machine, a third
# of test-relay). One test alone: the binary with --gtest_filter
# (docs/hacking.md).
#
# In a sanitizer build (TABLEPUB_SANITIZE) the tests in
# TABLEPUB_SANITIZE_SKIP are left out: they assert a resident-memory bound
# that ASan's shadow memory and quarantine make meaningless, or move more
# data than ASan's pace lets finish in time.
set(TABLEPUB_SANITIZE_SKIP
  RelayIT.MillionRowTransactionInBoundedMemory
  RelayIT.LargeChangesFlowInBoundedMemory
  SubscriberIT.SnapshotNeverSeesATruncateOrRewriteFromTheFuture)

function(tablepub_add_cluster_tests target)
  cmake_parse_arguments(ARG "" "TIMEOUT" "" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 900)
  endif()
  set(args "")
  if(TABLEPUB_SANITIZE)
    list(JOIN TABLEPUB_SANITIZE_SKIP ":" skip)
    set(args "--gtest_filter=-${skip}")
  endif()
  add_test(NAME ${target} COMMAND ${target} ${args})
  set_tests_properties(${target} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS integration)
endfunction()
