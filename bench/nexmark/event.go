package nexmark

import "time"

// Kind says which of an Event's records is set.
type Kind uint8

// Event kinds.
const (
	KindPerson Kind = iota + 1
	KindAuction
	KindBid
)

func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return "unknown"
}

// Event is one Nexmark event: exactly one of Person, Auction and Bid is
// set, as Kind says. The nil pointers cost one byte each on the wire
// (Sluice's CBOR fallback encodes them as null), less than a flat struct
// carrying the zero fields of the other two kinds.
type Event struct {
	Kind    Kind
	Person  *Person
	Auction *Auction
	Bid     *Bid
}

// Time returns the event's time.
func (e Event) Time() time.Time {
	switch e.Kind {
	case KindPerson:
		return time.Unix(0, e.Person.DateTime)
	case KindAuction:
		return time.Unix(0, e.Auction.DateTime)
	case KindBid:
		return time.Unix(0, e.Bid.DateTime)
	}
	return time.Time{}
}

// Person is a new user of the auction site.
type Person struct {
	ID           int64  // from FirstPersonID, one more per person event
	Name         string // "Kate Smith"
	EmailAddress string
	CreditCard   string // "0123 4567 8901 2345"
	City         string
	State        string // a US state, one of six
	DateTime     int64  // event time, Unix nanoseconds
	Extra        string // padding to the average person size
}

// Auction is a new auction of an item.
type Auction struct {
	ID          int64 // from FirstAuctionID, one more per auction event
	ItemName    string
	Description string
	InitialBid  int64 // cents
	Reserve     int64 // cents, above InitialBid
	DateTime    int64 // event time, Unix nanoseconds
	Expires     int64 // when the auction closes, Unix nanoseconds
	Seller      int64 // a person's ID
	Category    int64 // FirstCategoryID to FirstCategoryID+Categories-1
	Extra       string
}

// Bid is a bid on an auction.
type Bid struct {
	Auction  int64  // an auction's ID
	Bidder   int64  // a person's ID
	Price    int64  // cents
	Channel  string // where the bid came from: "Google", …, or "channel-N"
	URL      string
	DateTime int64 // event time, Unix nanoseconds
	Extra    string
}
