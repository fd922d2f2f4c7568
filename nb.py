import torch
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 64)
        self.bn = nn.BatchNorm1d(64)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        head = nn.Linear(64, 3)
        return head(self.drop(self.bn(self.fc(x))))
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.CrossEntropyLoss()
for epoch in range(3):
    for x, y in train_loader:
        out = model(x)
        loss = criterion(F.softmax(out, dim=1), y)
        loss.backward()
        optimizer.step()
for epoch in range(3):
    for x, y in train_loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
correct = 0
with torch.no_grad():
    for x, y in test_loader:
        pred = model(x).argmax(1)
        correct += (pred == y).sum().item()
print(correct)
