from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render


@staff_member_required(login_url="/login/")
def queue(request):
    return render(request, "ops/queue.html")
