#ifndef CFUSE3_H
#define CFUSE3_H
// libfuse3 3.14 high-level API. Its headers require FUSE_USE_VERSION before inclusion.
#define FUSE_USE_VERSION 31
#include <fuse.h>

// fuse_main is a macro; Swift cannot call macros, so wrap it.
static inline int CFuse3_main(int argc, char **argv, const struct fuse_operations *op, void *private_data) {
    return fuse_main(argc, argv, op, private_data);
}

// fuse_new and fuse_loop_mt are version-selecting macros too; these shims let Swift drive the mount's
// lifetime itself (fuse_new → fuse_mount → fuse_loop_mt → fuse_unmount → fuse_destroy), which fuse_main
// hides, so a library can mount on a background thread and a test can unmount it.
static inline struct fuse *CFuse3_new(struct fuse_args *args, const struct fuse_operations *op, void *private_data) {
    return fuse_new(args, op, sizeof(*op), private_data);
}

static inline int CFuse3_loop_mt(struct fuse *f, int clone_fd) {
    return fuse_loop_mt(f, clone_fd);
}
#endif
