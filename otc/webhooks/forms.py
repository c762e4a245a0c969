from django import forms

from .services import EVENT_TYPES

EVENT_CHOICES = [(t, t) for t in EVENT_TYPES]


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="Endpoint URL",
        max_length=2000,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/otc"}),
    )
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every order event.",
    )
