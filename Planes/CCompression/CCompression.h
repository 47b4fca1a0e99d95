// zlib (deflate, gzip, PNG's IDAT) and libbz2, for the Output Gate's bounded decoders.
#include <zlib.h>
#include <bzlib.h>
