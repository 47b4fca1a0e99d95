// zlib (deflate, gzip, PNG's IDAT) and libbz2, for the Output Gate's bounded decoders; zlib and libzstd for
// Parquet's GZIP and ZSTD pages.
#include <zlib.h>
#include <bzlib.h>
#include <zstd.h>
