package clientsvc

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

func TestGetExporter(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name  string
		ctx   context.Context
		req   string
		code  codes.Code
		parts []string
	}{
		{"online", alice, "namespaces/lab/exporters/board1", codes.OK, nil},
		{"unknown", alice, "namespaces/lab/exporters/nope", codes.NotFound, []string{`exporter "namespaces/lab/exporters/nope" not found`}},
		{"other namespace", alice, "namespaces/other/exporters/board9", codes.PermissionDenied, []string{"namespace mismatch"}},
		{"malformed", alice, "board1", codes.InvalidArgument, []string{"name", "namespaces/{namespace}/exporters/{name}"}},
		{"no caller", context.Background(), "namespaces/lab/exporters/board1", codes.Unauthenticated, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.srv.GetExporter(tt.ctx, &clientv1.GetExporterRequest{Name: tt.req})
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				return
			}
			if got.Name != tt.req || got.Labels["board"] != "rpi4" || !got.Online ||
				got.Status != jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE || !got.GetEnabled() {
				t.Errorf("GetExporter = %v", got)
			}
		})
	}
}

func TestListExporters(t *testing.T) {
	h := newHarness(t)
	names := func(resp *clientv1.ListExportersResponse) []string {
		var out []string
		for _, e := range resp.Exporters {
			out = append(out, e.Name)
		}
		return out
	}
	tests := []struct {
		name   string
		req    *clientv1.ListExportersRequest
		want   []string
		online []bool
		code   codes.Code
		parts  []string
	}{
		{"all", &clientv1.ListExportersRequest{Parent: "namespaces/lab"},
			[]string{"namespaces/lab/exporters/board1", "namespaces/lab/exporters/board2", "namespaces/lab/exporters/board3"},
			[]bool{true, false, true}, codes.OK, nil},
		{"filter", &clientv1.ListExportersRequest{Parent: "namespaces/lab", Filter: "board=rpi4"},
			[]string{"namespaces/lab/exporters/board1", "namespaces/lab/exporters/board2"}, nil, codes.OK, nil},
		{"set filter", &clientv1.ListExportersRequest{Parent: "namespaces/lab", Filter: "board notin (rpi4)"},
			[]string{"namespaces/lab/exporters/board3"}, nil, codes.OK, nil},
		{"no match", &clientv1.ListExportersRequest{Parent: "namespaces/lab", Filter: "board=x86"}, nil, nil, codes.OK, nil},
		{"malformed filter", &clientv1.ListExportersRequest{Parent: "namespaces/lab", Filter: "board=("}, nil, nil,
			codes.InvalidArgument, []string{"filter", `"board=("`}},
		{"oversized filter", &clientv1.ListExportersRequest{Parent: "namespaces/lab", Filter: "board=" + strings.Repeat("x", 100_000)}, nil, nil,
			codes.InvalidArgument, []string{"filter", "longer than the limit"}},
		{"other namespace", &clientv1.ListExportersRequest{Parent: "namespaces/other"}, nil, nil, codes.PermissionDenied, []string{"namespace mismatch"}},
		{"malformed parent", &clientv1.ListExportersRequest{Parent: "lab"}, nil, nil, codes.InvalidArgument, []string{"parent"}},
		{"bad page token", &clientv1.ListExportersRequest{Parent: "namespaces/lab", PageToken: "x"}, nil, nil,
			codes.InvalidArgument, []string{"page_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.srv.ListExporters(alice, tt.req)
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				return
			}
			if got := names(resp); !slices.Equal(got, tt.want) || resp.NextPageToken != "" {
				t.Errorf("ListExporters = %v (next %q), want %v", got, resp.NextPageToken, tt.want)
			}
			for i, online := range tt.online {
				if resp.Exporters[i].Online != online {
					t.Errorf("%s online = %v, want %v", resp.Exporters[i].Name, resp.Exporters[i].Online, online)
				}
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		req := &clientv1.ListExportersRequest{Parent: "namespaces/lab", PageSize: 2}
		for range 3 {
			resp, err := h.srv.ListExporters(alice, req)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, names(resp)...)
			if resp.NextPageToken == "" {
				break
			}
			req.PageToken = resp.NextPageToken
		}
		if len(got) != 3 || req.PageToken == "" {
			t.Errorf("pages gave %v", got)
		}
	})
}
