// Certificate files that are re-read when they change, after k8s.io/apiserver's
// server/dynamiccertificates: the serving certificate and key (--tls-cert-file,
// --tls-private-key-file) and the client CA bundle (--client-ca-file) can be rotated without a
// restart.
//
// One CertificateReloader thread polls every registered content (each second by default; upstream
// reacts to fsnotify events and re-reads every minute). A poll stat()s the files and reads them
// only when a stamp (device, inode, size, mtime, ctime) moved, or when the last read was too close
// to a file's mtime to trust the stamp; new bytes are compared by SHA-256 with what is loaded.
// Content that does not load (a PEM cut short, a key that does not match the certificate, a
// file missing in the middle of a swap) leaves the previous content in place: the error is logged
// once and the files are tried again when they change, as upstream keeps its last good content.
//
// Thread safety: Current() may be called from any thread at any time (it returns an immutable
// snapshot). Reload() is called by one thread at a time (the reloader's).
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/auth/auth.h"
#include "common/status.h"

namespace csdr::apiserver {

// A certificate chain (leaf first) and its private key. Immutable once made.
class ServingKeyPair {
 public:
  // Parses both PEMs and checks that the key belongs to the leaf. kBadRequest naming the
  // file (`cert_what`, `key_what`) and the problem otherwise.
  static StatusOr<std::shared_ptr<const ServingKeyPair>> FromPem(std::string_view cert_pem,
                                                                 std::string_view key_pem,
                                                                 std::string_view cert_what,
                                                                 std::string_view key_what);
  ~ServingKeyPair();
  ServingKeyPair(const ServingKeyPair&) = delete;
  ServingKeyPair& operator=(const ServingKeyPair&) = delete;

  X509* leaf() const { return leaf_; }
  STACK_OF(X509) * chain() const { return chain_; }  // the intermediates; may be empty
  EVP_PKEY* key() const { return key_; }
  // "subject CN=..., serial 0A1B..., valid until Nov 24 12:00:00 2028 GMT", for logs.
  std::string Describe() const;

 private:
  ServingKeyPair(X509* leaf, STACK_OF(X509) * chain, EVP_PKEY* key)
      : leaf_(leaf), chain_(chain), key_(key) {}
  X509* leaf_;              // owned
  STACK_OF(X509) * chain_;  // owned, with its certificates
  EVP_PKEY* key_;           // owned
};

// Content the reloader polls.
class ReloadableContent {
 public:
  virtual ~ReloadableContent() = default;
  // For logs: "serving certificate /etc/csdr/tls.crt + /etc/csdr/tls.key".
  virtual std::string Name() const = 0;
  // Re-reads the files when they may have changed. true: new content is in place; false:
  // nothing changed (or the bytes are what is loaded); an error: the files changed but do not
  // load, and the previous content stays.
  virtual StatusOr<bool> Reload() = 0;
};

// The part common to file-backed contents: cheap change detection and the bytes' digest.
class FileBackedContent : public ReloadableContent {
 public:
  StatusOr<bool> Reload() final;

 protected:
  explicit FileBackedContent(std::vector<std::string> paths) : paths_(std::move(paths)) {}
  // Parses the files' bytes (in the order of `paths`) and, when they load, puts them in place.
  virtual Status Load(const std::vector<std::string>& contents) = 0;
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  // What stat() says of a file (following symbolic links: a Kubernetes Secret volume swaps
  // a `..data` link). Any difference means "read it again".
  struct Stamp {
    bool exists = false;
    uint64_t device = 0, inode = 0;
    int64_t size = 0, mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp StampOf(const std::string& path);

  const std::vector<std::string> paths_;
  // Only the reloading thread touches these.
  std::vector<Stamp> stamps_;  // as seen before the last read
  bool recheck_ = true;        // the last read could not trust the stamps: read again
  std::string loaded_digest_;  // SHA-256 of what Load last accepted
};

// The serving certificate and key from two files.
class DynamicServingCert : public FileBackedContent {
 public:
  // Loads both files; an error names the file (and the flag) and the problem.
  static StatusOr<std::unique_ptr<DynamicServingCert>> FromFiles(const std::string& cert_file,
                                                                 const std::string& key_file);
  std::shared_ptr<const ServingKeyPair> Current() const;
  std::string Name() const override;

 private:
  DynamicServingCert(std::string cert_file, std::string key_file)
      : FileBackedContent({std::move(cert_file), std::move(key_file)}) {}
  Status Load(const std::vector<std::string>& contents) override;
  mutable std::mutex mu_;  // guards current_ (the pair itself is immutable)
  std::shared_ptr<const ServingKeyPair> current_;
};

// A CA bundle from one file (--client-ca-file).
class DynamicCaFile : public FileBackedContent {
 public:
  using Listener = std::function<void(std::shared_ptr<const CaBundle>)>;
  // Loads the file; an error names it and the problem. `what` names it in messages
  // ("--client-ca-file").
  static StatusOr<std::unique_ptr<DynamicCaFile>> FromFile(const std::string& path,
                                                           const std::string& what);
  std::shared_ptr<const CaBundle> Current() const;
  std::string Name() const override;
  // `listener` is called at once with the current bundle, then on the reloading thread after
  // every change. Add listeners before the reloader starts.
  void AddListener(Listener listener);

 private:
  DynamicCaFile(std::string path, std::string what)
      : FileBackedContent({std::move(path)}), what_(std::move(what)) {}
  Status Load(const std::vector<std::string>& contents) override;
  const std::string what_;
  std::vector<Listener> listeners_;  // set before the reloader starts; read by it
  mutable std::mutex mu_;            // guards current_ (the bundle itself is immutable)
  std::shared_ptr<const CaBundle> current_;
};

// One thread that calls Reload() on every registered content each `interval`, logging what
// was loaded and, once per distinct error, what was refused.
class CertificateReloader {
 public:
  explicit CertificateReloader(std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~CertificateReloader();  // Stop()
  CertificateReloader(const CertificateReloader&) = delete;
  CertificateReloader& operator=(const CertificateReloader&) = delete;

  // Before Start(). Not owned: each content must outlive Stop().
  void Add(ReloadableContent* content);
  void Start();
  // Ends the thread (within one poll's work); idempotent.
  void Stop();
  // One pass over every content on the calling thread (when the thread is not running).
  void PollOnce();

 private:
  void Loop();
  const std::chrono::milliseconds interval_;
  std::vector<ReloadableContent*> contents_;
  std::vector<std::string> last_errors_;  // per content; only the polling thread touches it
  std::mutex mu_;                         // guards stop_
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace csdr::apiserver
