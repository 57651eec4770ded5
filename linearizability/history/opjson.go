package history

import (
	"encoding/json"

	"github.com/havenproject/haven/linearizability"
)

// An operation's data and its items' data are raw MessagePack, bytes that
// need not be UTF-8, which encoding/json would replace. On a history line
// they are base64, as an entry's data is, so that a history reads back
// byte for byte and its writes still match their entries.

type (
	listsInput  linearizability.ListsInput
	listsOutput linearizability.ListsOutput
	listsItem   linearizability.Item
)

type inputJSON struct {
	listsInput
	Data []byte
}

type itemJSON struct {
	listsItem
	Data []byte
}

type outputJSON struct {
	listsOutput
	Items []itemJSON
}

type opJSON struct {
	Client     int         `json:"client"`
	Call       int64       `json:"call"`
	Return     int64       `json:"return"`
	Input      inputJSON   `json:"input"`
	Output     *outputJSON `json:"output,omitempty"`
	NotApplied string      `json:"not_applied,omitempty"`
}

// MarshalJSON writes the operation with its data in base64.
func (o Op) MarshalJSON() ([]byte, error) {
	j := opJSON{Client: o.Client, Call: o.Call, Return: o.Return, NotApplied: o.NotApplied,
		Input: inputJSON{listsInput: listsInput(o.Input), Data: []byte(o.Input.Data)}}
	if out := o.Output; out != nil {
		j.Output = &outputJSON{listsOutput: listsOutput(*out)}
		if out.Items != nil {
			j.Output.Items = make([]itemJSON, len(out.Items))
			for i, it := range out.Items {
				j.Output.Items[i] = itemJSON{listsItem: listsItem(it), Data: []byte(it.Data)}
			}
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (o *Op) UnmarshalJSON(b []byte) error {
	var j opJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*o = Op{Client: j.Client, Call: j.Call, Return: j.Return, NotApplied: j.NotApplied, Input: linearizability.ListsInput(j.Input.listsInput)}
	o.Input.Data = string(j.Input.Data)
	if j.Output != nil {
		out := linearizability.ListsOutput(j.Output.listsOutput)
		out.Items = nil
		if j.Output.Items != nil {
			out.Items = make([]linearizability.Item, len(j.Output.Items))
			for i, it := range j.Output.Items {
				out.Items[i] = linearizability.Item(it.listsItem)
				out.Items[i].Data = string(it.Data)
			}
		}
		o.Output = &out
	}
	return nil
}
