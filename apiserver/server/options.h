// Command-line options, named as kube-apiserver names them.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace csdr::apiserver {

struct Options {
  std::string bind_address = "0.0.0.0";
  int secure_port = 8443;
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string client_ca_file;
  // The cluster whose Secrets, Namespaces, StorageClasses, PVCs and ConfigMaps the rules
  // read; empty: the in-cluster service account inside a pod, else none.
  std::string kubeconfig;
  std::string storage = "sqlite://./data/csdr.db";
  int verbosity = 0;
  int max_connections = 4096;
  int min_request_timeout = 1800;
  // Admission plugins to turn off, as kube-apiserver's --disable-admission-plugins. The one
  // plugin is "CSDRPolicy" (the backup center's rules); turning it off is for tests of
  // the REST machinery alone.
  std::vector<std::string> disable_admission_plugins;
  bool help = false;
};

// Parses argv (without argv[0]). Accepts --flag=value and --flag value. An unknown flag or
// a bad value is kBadRequest with one line naming it.
StatusOr<Options> ParseOptions(const std::vector<std::string>& args);
std::string Usage();

}  // namespace csdr::apiserver
