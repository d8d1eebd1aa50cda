package cloudtrail

import (
	"github.com/vigil-audit/vigil/internal/ingest"
)

// decode fills rec from a record. It is what ingest.Decode (encoding/json)
// would do for these fields, in one pass over the record's structure and
// without reflection: CloudTrail is the high-volume source. It does not
// validate the JSON; event.Normalize does, before any event is emitted.
func decode(raw []byte, rec *record) error {
	return ingest.Object(raw, func(k []byte, v ingest.Lazy) error {
		var err error
		switch string(k) {
		case "eventTime":
			rec.EventTime, err = v.Str("eventTime")
		case "eventSource":
			rec.EventSource, err = v.Str("eventSource")
		case "eventName":
			rec.EventName, err = v.Str("eventName")
		case "awsRegion":
			rec.AWSRegion, err = v.Str("awsRegion")
		case "sourceIPAddress":
			rec.SourceIPAddress, err = v.Str("sourceIPAddress")
		case "userAgent":
			rec.UserAgent, err = v.Str("userAgent")
		case "errorCode":
			rec.ErrorCode, err = v.Str("errorCode")
		case "errorMessage":
			rec.ErrorMessage, err = v.Str("errorMessage")
		case "recipientAccountId":
			rec.RecipientAccountID, err = v.Str("recipientAccountId")
		case "eventID":
			rec.EventID, err = v.Str("eventID")
		case "eventType":
			rec.EventType, err = v.Str("eventType")
		case "eventCategory":
			rec.EventCategory, err = v.Str("eventCategory")
		case "detail-type":
			rec.DetailType, err = v.Str("detail-type")
		case "digestStartTime":
			rec.DigestStartTime, err = v.Str("digestStartTime")
		case "readOnly":
			rec.ReadOnly = v
		case "responseElements":
			rec.ResponseElements = v
		case "sessionCredentialFromConsole":
			rec.FromConsole = v
		case "additionalEventData":
			rec.AdditionalData = v
		case "detail":
			rec.Detail = v
		case "userIdentity":
			err = decodeIdentity(v, &rec.UserIdentity)
		case "requestParameters":
			if !v.IsNull() {
				rec.RequestParameters = new(params)
				err = decodeParams(v, rec.RequestParameters)
			}
		case "resources":
			err = v.Each("resources", func(el ingest.Lazy) error {
				var r resource
				err := ingest.Object(el, func(k []byte, v ingest.Lazy) error {
					var err error
					switch string(k) {
					case "ARN":
						r.ARN, err = v.Str("resources.ARN")
					case "accountId":
						r.AccountID, err = v.Str("resources.accountId")
					case "type":
						r.Type, err = v.Str("resources.type")
					}
					return err
				})
				if err != nil {
					return wrapField("resources", err)
				}
				rec.Resources = append(rec.Resources, r)
				return nil
			})
		}
		return err
	})
}

func wrapField(field string, err error) error {
	return &fieldError{field: field, err: err}
}

type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return "field " + e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func decodeIdentity(v ingest.Lazy, id *identity) error {
	if v.IsNull() {
		return nil
	}
	err := ingest.Object(v, func(k []byte, v ingest.Lazy) error {
		var err error
		switch string(k) {
		case "type":
			id.Type, err = v.Str("type")
		case "principalId":
			id.PrincipalID, err = v.Str("principalId")
		case "arn":
			id.ARN, err = v.Str("arn")
		case "accountId":
			id.AccountID, err = v.Str("accountId")
		case "accessKeyId":
			id.AccessKeyID, err = v.Str("accessKeyId")
		case "userName":
			id.UserName, err = v.Str("userName")
		case "invokedBy":
			id.InvokedBy, err = v.Str("invokedBy")
		case "sessionContext":
			if v.IsNull() {
				return nil
			}
			id.SessionContext = &sessionContext{}
			sc := id.SessionContext
			err = ingest.Object(v, func(k []byte, v ingest.Lazy) error {
				var err error
				switch string(k) {
				case "sessionIssuer":
					if v.IsNull() {
						return nil
					}
					err = ingest.Object(v, func(k []byte, v ingest.Lazy) error {
						var err error
						switch string(k) {
						case "type":
							sc.SessionIssuer.Type, err = v.Str("sessionContext.sessionIssuer.type")
						case "arn":
							sc.SessionIssuer.ARN, err = v.Str("sessionContext.sessionIssuer.arn")
						case "userName":
							sc.SessionIssuer.UserName, err = v.Str("sessionContext.sessionIssuer.userName")
						}
						return err
					})
				case "attributes":
					if v.IsNull() {
						return nil
					}
					sc.Attributes.MFAAuthenticated = v.Member("mfaAuthenticated")
				case "sourceIdentity":
					sc.SourceIdentity, err = v.Str("sessionContext.sourceIdentity")
				}
				return err
			})
		case "onBehalfOf":
			if !v.IsNull() {
				id.OnBehalfOf = &onBehalfOf{}
				id.OnBehalfOf.UserID, err = v.Member("userId").Str("onBehalfOf.userId")
			}
		}
		return err
	})
	if err != nil {
		return wrapField("userIdentity", err)
	}
	return nil
}

func decodeParams(v ingest.Lazy, p *params) error {
	err := ingest.Object(v, func(k []byte, v ingest.Lazy) error {
		if f := p.field(string(k)); f != nil {
			*f = v
		}
		return nil
	})
	if err != nil {
		return wrapField("requestParameters", err)
	}
	return nil
}
