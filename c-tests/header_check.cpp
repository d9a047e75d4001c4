// header_cxx: the header check of header_check.c, compiled as C++.
#include "header_check.c"
