#ifndef CLEVELDB_H
#define CLEVELDB_H
// LevelDB 1.23 C API. Debian's libleveldb-dev ships no .pc file, so the module map links "leveldb" by name.
#include <stddef.h>
#include <leveldb/c.h>

// void* shims so Swift can pass raw buffers without CChar casts.
static inline void CLevelDB_put(leveldb_t *db, const leveldb_writeoptions_t *o, const void *k, size_t kl,
                                const void *v, size_t vl, char **err) {
    leveldb_put(db, o, (const char *)k, kl, (const char *)v, vl, err);
}
static inline char *CLevelDB_get(leveldb_t *db, const leveldb_readoptions_t *o, const void *k, size_t kl,
                                 size_t *vl, char **err) {
    return leveldb_get(db, o, (const char *)k, kl, vl, err);
}
static inline void CLevelDB_delete(leveldb_t *db, const leveldb_writeoptions_t *o, const void *k, size_t kl,
                                   char **err) {
    leveldb_delete(db, o, (const char *)k, kl, err);
}
static inline void CLevelDB_batch_put(leveldb_writebatch_t *b, const void *k, size_t kl, const void *v, size_t vl) {
    leveldb_writebatch_put(b, (const char *)k, kl, (const char *)v, vl);
}
static inline void CLevelDB_batch_delete(leveldb_writebatch_t *b, const void *k, size_t kl) {
    leveldb_writebatch_delete(b, (const char *)k, kl);
}
static inline void CLevelDB_iter_seek(leveldb_iterator_t *it, const void *k, size_t kl) {
    leveldb_iter_seek(it, (const char *)k, kl);
}
#endif
