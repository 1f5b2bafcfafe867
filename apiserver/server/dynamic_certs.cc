#include "apiserver/server/dynamic_certs.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kube/tls.h"

namespace csdr::apiserver {
namespace {

// Certificate and key files are a few KiB; anything this large is not one (and is not read
// into memory every time it changes).
constexpr int64_t kMaxFileBytes = 1 << 20;

// A file modified this recently may be modified again within the same mtime tick (coarse
// filesystem timestamps) without its stamp moving, so its stamp is not trusted yet: the next
// poll reads it again. 2 s covers every Linux filesystem's timestamp granularity.
constexpr std::chrono::seconds kRacyWindow{2};

int64_t Nanos(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + static_cast<int64_t>(t.tv_nsec);
}

StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Code::kBadRequest, "cannot read " + path + ": " + std::strerror(errno));
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status(Code::kBadRequest, "cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(out.size()) > kMaxFileBytes) {
      ::close(fd);
      return Status(Code::kBadRequest,
                    path + " is larger than 1 MiB: not a PEM certificate or key");
    }
  }
  ::close(fd);
  return out;
}

// SHA-256 of the contents, each prefixed by its length so that moving bytes from one file to
// the other changes the digest.
std::string Digest(const std::vector<std::string>& contents) {
  std::string framed;
  for (const auto& c : contents) {
    framed += std::to_string(c.size());
    framed += ':';
    framed += c;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(framed.data(), framed.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    ERR_clear_error();
    return framed;  // cannot happen in practice; comparing the bytes themselves is still right
  }
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace

// ---- ServingKeyPair

StatusOr<std::shared_ptr<const ServingKeyPair>> ServingKeyPair::FromPem(std::string_view cert_pem,
                                                                        std::string_view key_pem,
                                                                        std::string_view cert_what,
                                                                        std::string_view key_what) {
  auto certs = kube::tls::ParseCertificates(cert_pem, cert_what);
  if (!certs.ok()) return certs.status();
  auto key = kube::tls::ParsePrivateKey(key_pem, key_what);
  if (!key.ok()) return key.status();
  X509* leaf = certs->front().get();
  if (X509_check_private_key(leaf, key->get()) != 1) {
    ERR_clear_error();
    return Status(Code::kBadRequest, std::string(key_what) + " does not match the certificate in " +
                                         std::string(cert_what));
  }
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (chain == nullptr) return Status(Code::kInternal, "cannot allocate a certificate stack");
  for (size_t i = 1; i < certs->size(); ++i) {
    if (sk_X509_push(chain, (*certs)[i].get()) == 0) {
      sk_X509_pop_free(chain, X509_free);
      return Status(Code::kInternal, "cannot allocate a certificate stack");
    }
    (*certs)[i].release();  // the stack owns it now
  }
  return std::shared_ptr<const ServingKeyPair>(
      new ServingKeyPair(certs->front().release(), chain, key->release()));
}

ServingKeyPair::~ServingKeyPair() {
  X509_free(leaf_);
  sk_X509_pop_free(chain_, X509_free);
  EVP_PKEY_free(key_);
}

std::string ServingKeyPair::Describe() const {
  std::string out = "subject";
  for (const auto& cn : SubjectEntries(leaf_, NID_commonName)) out += " CN=" + cn;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf_), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      out += std::string(", serial ") + hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (bio && ASN1_TIME_print(bio.get(), X509_get0_notAfter(leaf_)) == 1) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    out += ", valid until " + std::string(data, static_cast<size_t>(len));
  }
  ERR_clear_error();
  return out;
}

// ---- FileBackedContent

FileBackedContent::Stamp FileBackedContent::StampOf(const std::string& path) {
  struct stat st;
  Stamp stamp;
  if (::stat(path.c_str(), &st) != 0) return stamp;
  stamp.exists = true;
  stamp.device = static_cast<uint64_t>(st.st_dev);
  stamp.inode = static_cast<uint64_t>(st.st_ino);
  stamp.size = static_cast<int64_t>(st.st_size);
  stamp.mtime_ns = Nanos(st.st_mtim);
  stamp.ctime_ns = Nanos(st.st_ctim);
  return stamp;
}

StatusOr<bool> FileBackedContent::Reload() {
  std::vector<Stamp> before;
  for (const auto& path : paths_) before.push_back(StampOf(path));
  if (!recheck_ && before == stamps_) return false;

  std::vector<std::string> contents;
  Status read = Status::Ok();
  for (const auto& path : paths_) {
    auto content = ReadFile(path);
    if (!content.ok()) {
      read = content.status();
      break;
    }
    contents.push_back(std::move(*content));
  }
  std::vector<Stamp> after;
  for (const auto& path : paths_) after.push_back(StampOf(path));
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t racy_ns = std::chrono::nanoseconds(kRacyWindow).count();
  bool racy = after != before;  // written while we read: what we have may be torn
  for (const Stamp& s : before) {
    const int64_t age = now_ns - std::max(s.mtime_ns, s.ctime_ns);
    if (s.exists && age < racy_ns && age > -racy_ns) racy = true;
  }
  stamps_ = std::move(before);
  recheck_ = racy;
  if (!read.ok()) return read;

  std::string digest = Digest(contents);
  if (digest == loaded_digest_) return false;
  CSDR_RETURN_IF_ERROR(Load(contents));
  loaded_digest_ = std::move(digest);
  return true;
}

// ---- DynamicServingCert

StatusOr<std::unique_ptr<DynamicServingCert>> DynamicServingCert::FromFiles(
    const std::string& cert_file, const std::string& key_file) {
  std::unique_ptr<DynamicServingCert> content(new DynamicServingCert(cert_file, key_file));
  auto loaded = content->Reload();
  if (!loaded.ok()) return loaded.status();
  return content;
}

std::shared_ptr<const ServingKeyPair> DynamicServingCert::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::string DynamicServingCert::Name() const {
  return "serving certificate " + paths()[0] + " + " + paths()[1];
}

Status DynamicServingCert::Load(const std::vector<std::string>& contents) {
  auto pair = ServingKeyPair::FromPem(contents[0], contents[1], "--tls-cert-file " + paths()[0],
                                      "--tls-private-key-file " + paths()[1]);
  if (!pair.ok()) return pair.status();
  LOG(INFO) << "loaded " << Name() << ": " << (*pair)->Describe();
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(*pair);
  return Status::Ok();
}

// ---- DynamicCaFile

StatusOr<std::unique_ptr<DynamicCaFile>> DynamicCaFile::FromFile(const std::string& path,
                                                                 const std::string& what) {
  std::unique_ptr<DynamicCaFile> content(new DynamicCaFile(path, what));
  auto loaded = content->Reload();
  if (!loaded.ok()) return loaded.status();
  return content;
}

std::shared_ptr<const CaBundle> DynamicCaFile::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::string DynamicCaFile::Name() const { return what_ + " " + paths()[0]; }

void DynamicCaFile::AddListener(Listener listener) {
  listener(Current());
  listeners_.push_back(std::move(listener));
}

Status DynamicCaFile::Load(const std::vector<std::string>& contents) {
  auto bundle = CaBundle::FromPem(contents[0], Name());
  if (!bundle.ok()) return bundle.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = *bundle;
  }
  LOG(INFO) << "loaded " << Name();
  for (const auto& listener : listeners_) listener(*bundle);
  return Status::Ok();
}

// ---- CertificateReloader

CertificateReloader::CertificateReloader(std::chrono::milliseconds interval)
    : interval_(interval) {}

CertificateReloader::~CertificateReloader() { Stop(); }

void CertificateReloader::Add(ReloadableContent* content) {
  contents_.push_back(content);
  last_errors_.emplace_back();
}

void CertificateReloader::Start() {
  if (thread_.joinable() || contents_.empty()) return;
  thread_ = std::thread([this] { Loop(); });
}

void CertificateReloader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertificateReloader::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    PollOnce();
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

void CertificateReloader::PollOnce() {
  for (size_t i = 0; i < contents_.size(); ++i) {
    StatusOr<bool> reloaded = contents_[i]->Reload();
    if (reloaded.ok()) {
      last_errors_[i].clear();
      continue;
    }
    // A rotation in progress (one file written, the other not yet) fails until it is done;
    // say so once per distinct problem rather than every second.
    const std::string& message = reloaded.status().message();
    if (message != last_errors_[i]) {
      LOG(ERROR) << "cannot reload " << contents_[i]->Name() << ": " << message
                 << "; still serving the previous one (retried when the files change)";
      last_errors_[i] = message;
    }
  }
}

}  // namespace csdr::apiserver
