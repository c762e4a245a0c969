from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render


@login_required
def dashboard(request):
    if request.user.is_staff:
        return redirect("ops:queue")
    return render(request, "portal/dashboard.html")
