# cython: language_level=3
# The field kernels of fields.pyx compiled a second time with -mavx2 (setup.py adds the flag on
# x86-64 only), as mscabm._fields_avx2. mscabm._kernels uses this module when the CPU has AVX2:
# with -ffp-contract=off and no fast-math every operation is the same IEEE double operation in
# a wider register, so the results are the same bits (tests/test_fields_kernels.py compares).
include "fields.pyx"
