package wire

import "fmt"

// Type identifies a message; it is the byte after a frame's length.
type Type uint8

// Message types. Handshake messages come first, in this order, each at
// most once; the rest flow after a successful handshake.
const (
	TypeHello   Type = 1 // server → client: version and the server's key share
	TypeAuth    Type = 2 // client → server: version, the client's key share, proof
	TypeWelcome Type = 3 // server → client: proof, and how much work to send
	TypeRefused Type = 4 // server → client: why the handshake failed
	TypeSalt    Type = 5 // server → client, right after Hello: the secret's salt

	TypeJob       Type = 16 // client → server: run a job
	TypeResult    Type = 17 // server → client: a job's outcome
	TypeCredits   Type = 18 // server → client: new number of jobs in flight allowed
	TypeHeartbeat Type = 19 // either way: "still here" after a quiet spell
	TypeGoodbye   Type = 20 // server → client: draining, send no more jobs
	TypeCancel    Type = 21 // client → server: drop a job if it has not started
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "Hello"
	case TypeAuth:
		return "Auth"
	case TypeWelcome:
		return "Welcome"
	case TypeRefused:
		return "Refused"
	case TypeSalt:
		return "Salt"
	case TypeJob:
		return "Job"
	case TypeResult:
		return "Result"
	case TypeCredits:
		return "Credits"
	case TypeHeartbeat:
		return "Heartbeat"
	case TypeGoodbye:
		return "Goodbye"
	case TypeCancel:
		return "Cancel"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Message is any frame body.
type Message interface {
	MessageType() Type
}

// Hello opens the handshake: the server's protocol version and its
// ephemeral X25519 public key, fresh for the connection. Every version of
// the protocol opens with a Hello whose first field is the version.
type Hello struct {
	_msgpack struct{} `msgpack:",as_array"`
	Version  int
	Share    []byte
}

// Salt follows Hello: the salt the server stretches the secret with, the
// same for every connection to that server.
type Salt struct {
	_msgpack struct{} `msgpack:",as_array"`
	Salt     []byte
}

// Auth answers Hello: the client's version, its ephemeral X25519 public
// key, and its proof of the secret over the whole exchange.
type Auth struct {
	_msgpack struct{} `msgpack:",as_array"`
	Version  int
	Share    []byte
	Proof    []byte
}

// Welcome accepts the client: the server's proof of the secret over the
// exchange and the offer, which the client checks before it trusts
// anything else, and the node's size.
type Welcome struct {
	_msgpack struct{} `msgpack:",as_array"`
	Proof    []byte
	// Workers is the node's number of worker processes (for statistics).
	Workers int
	// Credits is how many jobs the client may have in flight at once.
	Credits int
}

// Refused ends a failed handshake with a reason meant for a human.
type Refused struct {
	_msgpack struct{} `msgpack:",as_array"`
	Reason   string
}

// Job asks the server to run function Key on Args. Source accompanies the
// first job of each key on a connection and is empty afterwards.
type Job struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       uint64
	Key      uint64
	Source   []byte
	Args     []byte
	// TimeoutNS is the longest the job may run, in nanoseconds, from when
	// a worker starts it; 0 means no limit, and a negative one is a
	// protocol error.
	TimeoutNS int64
	// Segment holds the arguments' large (out-of-band) buffers, as the
	// client's shared-memory segment held them; empty for most jobs.
	Segment []byte
}

// Status says how a job ended on the node (Result.Status).
type Status int

// The statuses a Result may carry; any other is a protocol error.
const (
	// StatusDone: the job ran, and Data holds the worker's serialized
	// outcome (a user exception is an outcome too).
	StatusDone Status = 0
	// StatusLost: the node could not complete the job through no fault of
	// its own (its worker died, the server is shutting down); Reason says
	// why, and the client may run it again, there or elsewhere.
	StatusLost Status = 1
	// StatusTimedOut: the job ran longer than its timeout and its worker
	// was killed; Reason says so. Running it again would only take as long.
	StatusTimedOut Status = 2
	// StatusCancelled: the client cancelled the job and the node dropped
	// it before it started.
	StatusCancelled Status = 3
)

// Valid reports whether st is a status the protocol defines.
func (st Status) Valid() bool { return st >= StatusDone && st <= StatusCancelled }

func (st Status) String() string {
	switch st {
	case StatusDone:
		return "done"
	case StatusLost:
		return "lost"
	case StatusTimedOut:
		return "timed out"
	case StatusCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("Status(%d)", int(st))
}

// Result reports how job ID ended: its Status, the worker's serialized
// result in Data when it ran, and in Reason, for a job lost or timed out,
// why, in words meant for a human. Every Job gets exactly one Result.
type Result struct {
	_msgpack  struct{} `msgpack:",as_array"`
	ID        uint64
	Status    Status
	Data      []byte
	ElapsedNS int64
	Reason    string
	// Segment holds Data's large (out-of-band) buffers, as the worker's
	// shared-memory segment held them; empty for most results.
	Segment []byte
}

// Cancel tells the server the client no longer wants job ID: if no worker
// has started it, the server drops it and reports it StatusCancelled;
// otherwise the job runs and is reported as usual. Either way it gets its
// one Result, which returns its credit.
type Cancel struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       uint64
}

// Credits changes how many jobs the client may have in flight.
type Credits struct {
	_msgpack struct{} `msgpack:",as_array"`
	Credits  int
}

// Heartbeat is sent by either side after a quiet spell.
type Heartbeat struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// Goodbye tells the client the server is shutting down: it will finish
// and report the jobs it has, and must not be sent more.
type Goodbye struct {
	_msgpack struct{} `msgpack:",as_array"`
	Reason   string
}

func (*Hello) MessageType() Type     { return TypeHello }
func (*Auth) MessageType() Type      { return TypeAuth }
func (*Welcome) MessageType() Type   { return TypeWelcome }
func (*Refused) MessageType() Type   { return TypeRefused }
func (*Salt) MessageType() Type      { return TypeSalt }
func (*Job) MessageType() Type       { return TypeJob }
func (*Result) MessageType() Type    { return TypeResult }
func (*Credits) MessageType() Type   { return TypeCredits }
func (*Heartbeat) MessageType() Type { return TypeHeartbeat }
func (*Goodbye) MessageType() Type   { return TypeGoodbye }
func (*Cancel) MessageType() Type    { return TypeCancel }

// fieldCount is how many fields each message type has on the wire.
var fieldCount = map[Type]int{
	TypeHello: 2, TypeAuth: 3, TypeWelcome: 3, TypeRefused: 1, TypeSalt: 1,
	TypeJob: 6, TypeResult: 6, TypeCredits: 1, TypeHeartbeat: 0, TypeGoodbye: 1,
	TypeCancel: 1,
}

// newMessage returns an empty message of type t to decode into.
func newMessage(t Type) (Message, error) {
	switch t {
	case TypeHello:
		return &Hello{}, nil
	case TypeAuth:
		return &Auth{}, nil
	case TypeWelcome:
		return &Welcome{}, nil
	case TypeRefused:
		return &Refused{}, nil
	case TypeSalt:
		return &Salt{}, nil
	case TypeJob:
		return &Job{}, nil
	case TypeResult:
		return &Result{}, nil
	case TypeCredits:
		return &Credits{}, nil
	case TypeHeartbeat:
		return &Heartbeat{}, nil
	case TypeGoodbye:
		return &Goodbye{}, nil
	case TypeCancel:
		return &Cancel{}, nil
	}
	return nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, uint8(t))
}
