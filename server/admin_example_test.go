package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/poolside-dev/poolside/server"
)

// ExampleAdminHandler resizes a server's pool through its admin API. In a
// program the handler is served on a loopback listener with net/http.
func ExampleAdminHandler() {
	s, err := server.New(server.Config{
		Handler: server.HandlerFunc(func(_ context.Context, b []byte) []byte { return b }),
		Workers: 4,
		Queue:   16,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	admin := server.AdminHandler(s)

	for _, body := range []string{`{"workers": 8}`, `{"workers": 0}`} {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/pool", strings.NewReader(body)))
		if rec.Code != http.StatusOK {
			var e server.AdminError
			_ = json.Unmarshal(rec.Body.Bytes(), &e)
			fmt.Println(rec.Code, e.Error)
			continue
		}
		var st server.PoolState
		_ = json.Unmarshal(rec.Body.Bytes(), &st)
		fmt.Println(rec.Code, "workers:", st.Workers, "queue:", st.Queue)
	}
	// Output:
	// 200 workers: 8 queue: 16
	// 400 workers is 0; want {"workers": N} with N a whole number from 1 to 100000
}
