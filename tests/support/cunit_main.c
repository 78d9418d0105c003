/* The main of every test executable: registers the file's suites, runs them in
 * verbose basic mode (all, or only the suite named by argv[1]) and exits
 * non-zero when any test failed, so ctest sees the failure. */
#include "keel_test.h"

#include <CUnit/Basic.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (CU_initialize_registry() != CUE_SUCCESS) {
    fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
    return 2;
  }
  if (CU_register_suites(keel_test_suites) != CUE_SUCCESS) {
    fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_ErrorCode rc;
  if (argc > 1) {
    CU_pSuite suite = CU_get_suite(argv[1]);
    if (!suite) {
      fprintf(stderr, "no suite named '%s'\n", argv[1]);
      CU_cleanup_registry();
      return 2;
    }
    rc = CU_basic_run_suite(suite);
  } else {
    rc = CU_basic_run_tests();
  }
  unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
  unsigned ran = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (rc != CUE_SUCCESS) return 2;
  if (ran == 0) {
    fprintf(stderr, "no test ran\n");
    return 2;
  }
  return failed ? 1 : 0;
}
