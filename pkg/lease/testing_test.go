package lease

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func newTestScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, jumpstarterv1alpha1.AddToScheme(s)
}

// recorderAdapter satisfies recorder.EventRecorder with a fake that keeps reasons.
type recorderAdapter struct{ f *fakeRecorder }

func (r recorderAdapter) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.f.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (r recorderAdapter) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, eventtype, reason, action, note string, args ...any) {
	r.f.Eventf(regarding, related, eventtype, reason, action, note, args...)
}
