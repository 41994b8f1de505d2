package elbv2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) listenerActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateListener":    awsquery.Op(h.createListener),
		"DescribeListeners": awsquery.Op(h.describeListeners),
		"ModifyListener":    awsquery.Op(h.modifyListener),
		"DeleteListener":    awsquery.Op(h.deleteListener),
	}
}

// noTLS refuses the settings of TLS and HTTPS listeners: Isthmus has no
// certificates.
func noTLS(ssl *string, certs []Certificate, alpn []string, mutual *MutualAuthenticationAttributes) error {
	if ssl != nil || len(certs) > 0 || len(alpn) > 0 || mutual != nil {
		return awserr.New("InvalidConfigurationRequest", "Isthmus has no certificates: SslPolicy, Certificates, AlpnPolicy and MutualAuthentication cannot be specified")
	}
	return nil
}

func coreActions(as []Action) []core.ActionInput {
	out := make([]core.ActionInput, len(as))
	for i, a := range as {
		ai := core.ActionInput{Type: str(a.Type), TargetGroupARN: str(a.TargetGroupArn)}
		if a.ForwardConfig != nil {
			for _, t := range a.ForwardConfig.TargetGroups {
				ai.ForwardTargetGroups = append(ai.ForwardTargetGroups, str(t.TargetGroupArn))
			}
		}
		switch {
		case a.RedirectConfig != nil:
			ai.OtherConfig = "RedirectConfig"
		case a.FixedResponseConfig != nil:
			ai.OtherConfig = "FixedResponseConfig"
		case a.AuthenticateOidcConfig != nil:
			ai.OtherConfig = "AuthenticateOidcConfig"
		case a.AuthenticateCognitoConfig != nil:
			ai.OtherConfig = "AuthenticateCognitoConfig"
		case a.JwtValidationConfig != nil:
			ai.OtherConfig = "JwtValidationConfig"
		}
		out[i] = ai
	}
	return out
}

func wireListener(l *core.Listener) Listener {
	out := Listener{
		ListenerArn:     ptr(l.ARN()),
		LoadBalancerArn: ptr(l.LoadBalancerARN),
		Port:            nil,
		Protocol:        strp(l.Protocol),
		DefaultActions: []Action{{
			Type:           ptr("forward"),
			TargetGroupArn: ptr(l.TargetGroupARN),
			ForwardConfig: &ForwardActionConfig{
				TargetGroups:                []TargetGroupTuple{{TargetGroupArn: ptr(l.TargetGroupARN), Weight: ptr(int32(1))}},
				TargetGroupStickinessConfig: &TargetGroupStickinessConfig{Enabled: ptr(false)},
			},
		}},
	}
	if l.Port != 0 {
		out.Port = ptr(l.Port)
	}
	return out
}

func (h *Handler) createListener(r *awsquery.Request, in *CreateListenerInput) (*CreateListenerOutput, error) {
	if err := noTLS(in.SslPolicy, in.Certificates, in.AlpnPolicy, in.MutualAuthentication); err != nil {
		return nil, err
	}
	l, err := h.cloud.CreateListener(caller(r), core.CreateListenerInput{
		LoadBalancerARN: str(in.LoadBalancerArn),
		Port:            in.Port,
		Protocol:        str(in.Protocol),
		DefaultActions:  coreActions(in.DefaultActions),
		Tags:            coreTags(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	return &CreateListenerOutput{Listeners: []Listener{wireListener(l)}}, nil
}

func (h *Handler) describeListeners(r *awsquery.Request, in *DescribeListenersInput) (*DescribeListenersOutput, error) {
	ls, next, err := h.cloud.DescribeListeners(caller(r), str(in.LoadBalancerArn), in.ListenerArns, page(in.PageSize, in.Marker))
	if err != nil {
		return nil, err
	}
	out := &DescribeListenersOutput{NextMarker: strp(next)}
	for _, l := range ls {
		out.Listeners = append(out.Listeners, wireListener(l))
	}
	return out, nil
}

func (h *Handler) modifyListener(r *awsquery.Request, in *ModifyListenerInput) (*ModifyListenerOutput, error) {
	if err := noTLS(in.SslPolicy, in.Certificates, in.AlpnPolicy, in.MutualAuthentication); err != nil {
		return nil, err
	}
	m := core.ModifyListenerInput{Port: in.Port, Protocol: str(in.Protocol)}
	if in.DefaultActions != nil {
		m.DefaultActions = coreActions(in.DefaultActions)
	}
	l, err := h.cloud.ModifyListener(caller(r), str(in.ListenerArn), m)
	if err != nil {
		return nil, err
	}
	return &ModifyListenerOutput{Listeners: []Listener{wireListener(l)}}, nil
}

func (h *Handler) deleteListener(r *awsquery.Request, in *DeleteListenerInput) (*DeleteListenerOutput, error) {
	if err := h.cloud.DeleteListener(caller(r), str(in.ListenerArn)); err != nil {
		return nil, err
	}
	return &DeleteListenerOutput{}, nil
}
