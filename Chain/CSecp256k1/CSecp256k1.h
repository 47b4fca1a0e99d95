#ifndef CSECP256K1_H
#define CSECP256K1_H
// libsecp256k1 0.2 (Debian 12) with the recovery module: ECDSA sign, verify and public-key recovery.
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#endif
