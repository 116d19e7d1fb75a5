package main

// Rich errors (google.rpc.Status in grpc-status-details-bin) read the way a Go team reads them:
// status.FromError + status.Details(), which unpacks each google.protobuf.Any into the
// registered errdetails type (genproto's googleapis/rpc/errdetails).

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	authv1 "grpcpatterns/gen/authv1"
)

type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

type richError struct {
	Code            string           `json:"code"`
	Message         string           `json:"message"`
	FieldViolations []fieldViolation `json:"fieldViolations"`
	RetryDelayMs    *int64           `json:"retryDelayMs"`
	PushbackMs      *int64           `json:"pushbackMs"`
	OtherDetails    []string         `json:"otherDetails"`
}

func decodeRichError(err error, trailer metadata.MD) richError {
	st := status.Convert(err)
	out := richError{Code: st.Code().String(), Message: st.Message(), OtherDetails: []string{}}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				out.FieldViolations = append(out.FieldViolations, fieldViolation{v.Field, v.Description})
			}
		case *errdetails.RetryInfo:
			ms := d.RetryDelay.GetSeconds()*1000 + int64(d.RetryDelay.GetNanos())/1e6
			out.RetryDelayMs = &ms
		case error: // an Any whose type is not linked in
			out.OtherDetails = append(out.OtherDetails, d.Error())
		default:
			out.OtherDetails = append(out.OtherDetails, fmt.Sprintf("%T", d))
		}
	}
	if values := trailer.Get("grpc-retry-pushback-ms"); len(values) == 1 {
		if ms, err := strconv.ParseInt(values[0], 10, 64); err == nil {
			out.PushbackMs = &ms
		}
	}
	return out
}

func runRichErrors(args []string) error {
	fs := flag.NewFlagSet("rich-errors", flag.ExitOnError)
	target := fs.String("auth", "", "host:port of auth")
	token := fs.String("token", "", "access token (authorization: Bearer)")
	userID := fs.String("user-id", "", "id of the token's user")
	flood := fs.Int("flood", 100, "GetUser calls sent at once to reach the rate limit")
	_ = fs.Parse(args)
	if *target == "" {
		return fmt.Errorf("--auth is required")
	}
	conn := dial(*target)
	defer conn.Close()
	auth := authv1.NewAuthServiceClient(conn)
	ctx := func() (context.Context, context.CancelFunc) {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		return metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+*token), cancel
	}

	c1, cancel := ctx()
	var trailer metadata.MD
	_, err := auth.GetUser(c1, &authv1.GetUserRequest{UserId: ""}, grpc.Trailer(&trailer))
	cancel()
	if err == nil {
		return fmt.Errorf("GetUser with an empty user_id succeeded")
	}
	badRequest := decodeRichError(err, trailer)

	// The rate limit: every call of the flood at once; the first RESOURCE_EXHAUSTED is kept.
	var mu sync.Mutex
	var limited *richError
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < *flood; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := ctx()
			defer cancel()
			var tr metadata.MD
			_, err := auth.GetUser(c, &authv1.GetUserRequest{UserId: *userID}, grpc.Trailer(&tr))
			mu.Lock()
			defer mu.Unlock()
			counts[status.Code(err).String()]++
			if err != nil && limited == nil && status.Code(err).String() == "ResourceExhausted" {
				r := decodeRichError(err, tr)
				limited = &r
			}
		}()
	}
	wg.Wait()
	printJSON(map[string]interface{}{"badRequest": badRequest, "rateLimited": limited, "floodCodes": counts})
	return nil
}
