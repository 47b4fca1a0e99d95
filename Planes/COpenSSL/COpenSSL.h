#ifndef COPENSSL_H
#define COPENSSL_H
// OpenSSL 3.0 libcrypto: EVP digests and ciphers, KDFs, X25519, P-256, X.509. Only PlaneCrypto imports this.
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#endif
