package kubernetes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"
)

// admissionDefaults is the admission controller's policy where a namespace
// sets none: privileged, at the latest version. A namespace that names a
// level but no version gets the latest version's checks.
var admissionDefaults = func() psaapi.Policy {
	lv := psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()}
	return psaapi.Policy{Enforce: lv, Audit: lv, Warn: lv}
}()

// admitted evaluates a pod template as the Pod Security admission
// controller does under the policy a namespace's labels set; it returns
// why the pod would be refused, or "".
func admitted(t *testing.T, ns *corev1.Namespace, tmpl *corev1.PodTemplateSpec) string {
	t.Helper()
	policy, errs := psaapi.PolicyToEvaluate(ns.Labels, admissionDefaults)
	if len(errs) > 0 {
		t.Fatalf("namespace %s: pod security labels: %v", ns.Name, errs.ToAggregate())
	}
	evaluator, err := psa.NewEvaluator(psa.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := psa.AggregateCheckResults(evaluator.EvaluatePod(policy.Enforce, &tmpl.ObjectMeta, &tmpl.Spec))
	if res.Allowed {
		return ""
	}
	return res.ForbiddenReason() + ": " + res.ForbiddenDetail()
}

// TestPodSecurityStandard checks the pods against the standard their
// namespace enforces, with the admission controller's own checks: a pod
// that broke it would never be created.
func TestPodSecurityStandard(t *testing.T) {
	m := load(t)
	ns := named[*corev1.Namespace](t, m.all, namespace)
	if level := ns.Labels[psaapi.EnforceLevelLabel]; level != string(psaapi.LevelRestricted) {
		t.Errorf("namespace %s enforces %q; the pods are meant to meet %q", ns.Name, level, psaapi.LevelRestricted)
	}
	for name, tmpl := range map[string]*corev1.PodTemplateSpec{
		"ppserver": &m.deploy.Spec.Template,
		"client":   &m.job.Spec.Template,
	} {
		if why := admitted(t, ns, tmpl); why != "" {
			t.Errorf("the %s pods would be refused: %s", name, why)
		}
	}
	// The check itself: a pod that may gain privileges is refused.
	escalating := m.deploy.Spec.Template.DeepCopy()
	escalating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = new(bool)
	*escalating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = true
	if admitted(t, ns, escalating) == "" {
		t.Errorf("a ppserver pod allowing privilege escalation was admitted")
	}
}
