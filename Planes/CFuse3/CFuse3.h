#ifndef CFUSE3_H
#define CFUSE3_H
// libfuse3 3.14 high-level API. Its headers require FUSE_USE_VERSION before inclusion.
#define FUSE_USE_VERSION 31
#include <fuse.h>

// fuse_main is a macro; Swift cannot call macros, so wrap it.
static inline int CFuse3_main(int argc, char **argv, const struct fuse_operations *op, void *private_data) {
    return fuse_main(argc, argv, op, private_data);
}
#endif
