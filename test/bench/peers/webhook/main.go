// Command webhook is the controller-runtime peer of the benchmark suite: the validating webhook
// a Go team would write for the backup center's four product-card rules (docs/rules.md:
// CSDR-DEP-002, CSDR-BK-004 with CSDR-BK-005 and its warning CSDR-BK-006, CSDR-RS-005), served
// by controller-runtime's webhook.Server and admission.Webhook (which decode the
// AdmissionReview, echo the uid and turn a panic into an error response).
//
// The cluster facts come from flags, as they would come from an informer's cache: the webhook
// does no API call on the hot path, like csdr-apiserver's.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// clusterProfile holds the facts of ClusterProfile "cluster" that the four rules read.
type clusterProfile struct {
	ClusterType      string
	Region           string
	ComponentVersion string
}

// backupSpec is the part of a Backup's spec (or a BackupSchedule's template) the rules read.
type backupSpec struct {
	BackupType   string `json:"backupType"`
	VolumeBackup *struct {
		Method string `json:"method"`
	} `json:"volumeBackup"`
}

type backup struct {
	Spec backupSpec `json:"spec"`
}

type backupSchedule struct {
	Spec struct {
		Template backupSpec `json:"template"`
	} `json:"spec"`
}

type restore struct {
	Spec struct {
		RestoreVolumes *bool `json:"restoreVolumes"`
	} `json:"spec"`
}

const (
	msgDEP002 = "[CSDR-DEP-002] the backup center is not supported on ACK Serverless Basic clusters"
	msgBK004  = "[CSDR-BK-004] volume backup is not supported on ACK Serverless Pro and ACK Edge clusters; use backupType AppBackup"
	msgBK005  = "[CSDR-BK-005] Cloud Backup volume backup in China (Ulanqab), China (Heyuan) and China (Guangzhou) requires migrate-controller v1.8.4 or later"
	msgBK006  = "[CSDR-BK-006] in this region Cloud Backup must also be authorised to access API Gateway (AliyunServiceRoleForHbrMagpieBridge)"
	msgRS005  = "[CSDR-RS-005] volume data cannot be restored on ACK Serverless Pro or ACK Edge clusters"
)

var gatedRegions = map[string]bool{"cn-wulanchabu": true, "cn-heyuan": true, "cn-guangzhou": true}

// atLeast reports whether version vMAJOR.MINOR.PATCH[-pre][+build] is >= want (same form,
// no pre-release); a malformed version is not.
func atLeast(version string, want [3]int) bool {
	v := strings.TrimPrefix(version, "v")
	if len(v) == len(version) {
		return false
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	pre := false
	if i := strings.IndexByte(v, '-'); i >= 0 {
		v, pre = v[:i], true
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return false
		}
		if n != want[i] {
			return n > want[i]
		}
	}
	return !pre
}

type validator struct {
	profile clusterProfile
}

func (v *validator) serverlessProOrEdge() bool {
	return v.profile.ClusterType == "ACKServerlessPro" || v.profile.ClusterType == "ACKEdge"
}

// judgeBackup applies BK-004, BK-005 and BK-006 to a Backup spec or a schedule's template.
func (v *validator) judgeBackup(s backupSpec, prefix string, denials, warnings []string) ([]string, []string) {
	volumes := s.BackupType == "AppAndPvBackup" || s.BackupType == "PvBackup"
	if !volumes {
		return denials, warnings
	}
	if v.serverlessProOrEdge() {
		denials = append(denials, prefix+msgBK004)
	}
	method := "Auto"
	if s.VolumeBackup != nil && s.VolumeBackup.Method != "" {
		method = s.VolumeBackup.Method
	}
	if (method == "CloudBackup" || method == "Auto") && gatedRegions[v.profile.Region] {
		if !atLeast(v.profile.ComponentVersion, [3]int{1, 8, 4}) {
			denials = append(denials, prefix+msgBK005)
		}
		warnings = append(warnings, prefix+msgBK006)
	}
	return denials, warnings
}

func (v *validator) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Kind.Group != "csdr.io" || req.SubResource != "" || req.Operation != "CREATE" {
		return admission.Allowed("")
	}
	var denials, warnings []string
	if req.Kind.Kind != "ClusterProfile" && v.profile.ClusterType == "ACKServerlessBasic" {
		denials = append(denials, msgDEP002)
	}
	switch req.Kind.Kind {
	case "Backup":
		var b backup
		if err := json.Unmarshal(req.Object.Raw, &b); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		denials, warnings = v.judgeBackup(b.Spec, "", denials, warnings)
	case "BackupSchedule":
		var s backupSchedule
		if err := json.Unmarshal(req.Object.Raw, &s); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		denials, warnings = v.judgeBackup(s.Spec.Template, "template: ", denials, warnings)
	case "Restore":
		var r restore
		if err := json.Unmarshal(req.Object.Raw, &r); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		// Without the backup at hand only an explicit restoreVolumes: true counts (docs/rules.md).
		if r.Spec.RestoreVolumes != nil && *r.Spec.RestoreVolumes && v.serverlessProOrEdge() {
			denials = append(denials, msgRS005)
		}
	}
	if len(denials) > 0 {
		resp := admission.Denied(strings.Join(denials, "; "))
		resp.Result.Code = http.StatusForbidden
		return resp.WithWarnings(warnings...)
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 9443, "HTTPS port")
	certDir := flag.String("cert-dir", "", "directory holding the serving certificate and key")
	certName := flag.String("cert-name", "tls.crt", "serving certificate file in cert-dir")
	keyName := flag.String("key-name", "tls.key", "serving key file in cert-dir")
	var p clusterProfile
	flag.StringVar(&p.ClusterType, "cluster-type", "ACKManaged", "ClusterProfile spec.clusterType")
	flag.StringVar(&p.Region, "region", "cn-heyuan", "the cluster's region")
	flag.StringVar(&p.ComponentVersion, "component-version", "v1.8.4", "migrate-controller version")
	flag.Parse()

	srv := webhook.NewServer(webhook.Options{Host: *host, Port: *port, CertDir: *certDir,
		CertName: *certName, KeyName: *keyName})
	srv.Register("/validate", &admission.Webhook{Handler: &validator{profile: p}})
	// Readiness for the suite: plain 200 once the listener is up.
	srv.Register("/readyz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}
