/*
 * tests/c/exit_finalize.c: C_Finalize from an exit handler registered before the module
 * was loaded, as OpenSSL 3's pkcs11 provider does (it finalises modules from OpenSSL's
 * own atexit cleanup). That handler runs after the module's and the backend libraries'
 * exit-time code (static destructors, OpenSSL's cleanup), so the module must not call
 * into them then. Run by tests/tests/host_exit.rs; build: cc exit_finalize.c -ldl.
 *
 *   exit_finalize MODULE TOKEN_LABEL USER_PIN [finalize-in-main]
 *
 * Loads MODULE with dlopen, C_Initialize, logs in to TOKEN_LABEL, makes an EC P-256 key
 * pair and signs with it, then returns from main without C_Finalize (or, with a 4th
 * argument, calls C_Finalize in main: the normal path). The exit handler calls
 * C_Finalize and prints its return value. Exit status 0 on success; a crash is a signal.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <p11-kit-1/p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *fl;
static int finalized_in_main;

static void at_exit(void) {
  if (!fl || finalized_in_main) return;
  CK_RV rv = fl->C_Finalize(NULL);
  printf("exit handler: C_Finalize = 0x%lx\n", (unsigned long)rv);
  fflush(stdout);
  /* CKR_OK, or already finalised: anything else is a failure the test sees. */
  if (rv != CKR_OK) _exit(3);
}

#define CHECK(call)                                                        \
  do {                                                                     \
    CK_RV rv_ = (call);                                                    \
    if (rv_ != CKR_OK) {                                                   \
      fprintf(stderr, "%s = 0x%lx\n", #call, (unsigned long)rv_);          \
      return 2;                                                            \
    }                                                                      \
  } while (0)

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODULE TOKEN_LABEL USER_PIN [finalize-in-main]\n", argv[0]);
    return 2;
  }
  /* Registered before the module is loaded: it runs after everything the module and
   * its backends register later. */
  atexit(at_exit);
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
  if (!get) return 2;
  CHECK(get(&fl));
  CK_C_INITIALIZE_ARGS args;
  memset(&args, 0, sizeof args);
  args.flags = CKF_OS_LOCKING_OK;
  CHECK(fl->C_Initialize(&args));

  CK_SLOT_ID slots[64];
  CK_ULONG n = 64;
  CHECK(fl->C_GetSlotList(CK_TRUE, slots, &n));
  CK_SLOT_ID slot = 0;
  int found = 0;
  size_t want = strlen(argv[2]);
  for (CK_ULONG i = 0; i < n && !found; i++) {
    CK_TOKEN_INFO ti;
    CHECK(fl->C_GetTokenInfo(slots[i], &ti));
    if (want <= sizeof ti.label && memcmp(ti.label, argv[2], want) == 0) {
      found = 1;
      for (size_t k = want; k < sizeof ti.label; k++)
        if (ti.label[k] != ' ') found = 0;
      if (found) slot = slots[i];
    }
  }
  if (!found) {
    fprintf(stderr, "no token labelled %s\n", argv[2]);
    return 2;
  }
  CK_SESSION_HANDLE s;
  CHECK(fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
  CHECK(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR *)argv[3], strlen(argv[3])));

  /* An EC P-256 key pair (token objects: a hardware instance keeps keys on its nodes). */
  static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  CK_BBOOL yes = CK_TRUE;
  char label[] = "exit-finalize";
  CK_ATTRIBUTE pub[] = {
      {CKA_EC_PARAMS, p256, sizeof p256},
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_VERIFY, &yes, sizeof yes},
      {CKA_LABEL, label, sizeof label - 1},
  };
  CK_ATTRIBUTE priv[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_SIGN, &yes, sizeof yes},
      {CKA_LABEL, label, sizeof label - 1},
  };
  CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
  CK_OBJECT_HANDLE hpub, hpriv;
  CHECK(fl->C_GenerateKeyPair(s, &gen, pub, 4, priv, 5, &hpub, &hpriv));
  CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
  CK_BYTE digest[32];
  memset(digest, 0x5a, sizeof digest);
  CK_BYTE sig[128];
  CK_ULONG siglen = sizeof sig;
  CHECK(fl->C_SignInit(s, &ecdsa, hpriv));
  CHECK(fl->C_Sign(s, digest, sizeof digest, sig, &siglen));
  CHECK(fl->C_VerifyInit(s, &ecdsa, hpub));
  CHECK(fl->C_Verify(s, digest, sizeof digest, sig, siglen));
  printf("signed and verified: %lu-byte signature\n", (unsigned long)siglen);

  if (argc > 4) {
    CHECK(fl->C_Finalize(NULL));
    finalized_in_main = 1;
    printf("main: C_Finalize = 0x0\n");
  }
  fflush(stdout);
  /* Returning runs the exit handlers; the session stays open and logged in. */
  return 0;
}
