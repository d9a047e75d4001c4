/* Outside-project smoke test: the installed header and library agree on the
 * version, and a linker can be created and freed. */
#include <rtdyld.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
  const char *version = rtdyld_version();
  if (version == NULL || strcmp(version, RTDYLD_VERSION_STRING) != 0) {
    fprintf(stderr, "rtdyld_version() = %s, header says %s\n", version ? version : "(NULL)",
            RTDYLD_VERSION_STRING);
    return 1;
  }
  rtdyld_linker *linker = NULL;
  rtdyld_result r = rtdyld_linker_new(&linker);
  if (r != RTDYLD_RESULT_OK || linker == NULL) {
    fprintf(stderr, "rtdyld_linker_new: %s\n", rtdyld_result_name(r));
    return 1;
  }
  rtdyld_linker_free(linker);
  printf("outside project: rtdyld %s OK\n", version);
  return 0;
}
